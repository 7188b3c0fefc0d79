"""Prompt text. Constants only; placeholders are named."""

MEMORY_HEADER = "What you remember about the user (most relevant first):"
SUMMARY_HEADER = "Summary of the earlier conversation:"
NO_MEMORIES = "(nothing relevant)"

SYSTEM_PROMPT = f"""You are a helpful assistant with a long-term memory of the user.
Use what you remember when it helps, and never invent memories.

{MEMORY_HEADER}
{{memories}}

{SUMMARY_HEADER}
{{summary}}
"""

SUMMARIZE_PROMPT = """Update the running summary of a conversation with the new turns below.
Keep every fact the user stated about themselves, their preferences and open tasks. Be brief.

Current summary:
{summary}

New turns:
{turns}

Answer with the updated summary only."""
