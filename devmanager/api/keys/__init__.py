"""`/api-keys` (contract, section 10): API keys managed through the API, by keys holding `keys:write`."""
