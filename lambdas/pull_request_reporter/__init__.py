"""Posts the pull-request checks' verdict on the pull request (comment and approval state)."""
