"""Research: experiments behind the findings in docs/model/experiments.md (python -m models COMMAND)."""
