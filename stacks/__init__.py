"""The ml-cicd CDK stacks: a thin pipeline stack and the endpoint stack it deploys."""
