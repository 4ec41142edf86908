"""The CDK app that deploys serverless-mcp (API Gateway REST + two Lambda functions).

Nothing here imports `app/`: the Lambda code is referenced by path only.
"""
