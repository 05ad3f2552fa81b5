"""The LLM gateway: the OpenAI client, the only code that calls it, and the call ledger."""
