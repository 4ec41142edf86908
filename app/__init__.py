"""serverless-mcp: the code that ships to AWS Lambda (MCP server, authorizer, auth, config, audit)."""
