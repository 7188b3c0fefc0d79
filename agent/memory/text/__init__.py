"""Text utilities: scrubbing secrets, refusing instructions, plain-text checks, restatements."""
