"""The agent: a question or a query in, a checked answer (SQL, rows, chart, sentence) out."""
