"""The streaming import pipeline: read a file, map its rows, write prompts, generations and items.

readers  — format and encoding detection; JSONL and CSV rows one at a time (parquet: by record batch)
mapping  — which columns mean what (a validated mapping dict), and guessing it from column names
shapes   — one raw row -> a parsed row (prompt, generations, gold), per file shape (chat: transcripts,
           message lists; checks: size and NUL checks every stored value passes)
writers  — a batch's COPY text and the set-based INSERTs that store it
pipeline — batches through the writers in one transaction each, progress and errors on the ImportJob
preview  — the first rows as a mapping would read them (the mapping form)
"""
