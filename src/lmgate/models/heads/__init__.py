"""Task heads on frozen bases (classification, span QA) and their parameter accounting."""
