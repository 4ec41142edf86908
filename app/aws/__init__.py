"""AWS data access (boto3). Kept apart from ``app.auth`` so the pure logic never imports boto3."""
