"""Security: API keys with scopes and model allow-lists, rate limits and quotas, the gate."""
