"""Data building blocks: generators (dates, synthetic), vocabularies, examples, batching."""
