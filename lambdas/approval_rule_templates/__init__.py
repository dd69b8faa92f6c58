"""CloudFormation custom resource: one CodeCommit approval rule template and its repository association."""
