"""Provider clients, retries, rate limits and the response cache."""
