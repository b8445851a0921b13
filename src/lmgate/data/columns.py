"""The column names of a labelled table."""

TEXT, TEXT_EN, LABEL, LANGUAGE, GROUP = "text", "text_en", "label", "language", "group"
OPTIONAL_COLUMNS = (TEXT_EN, LANGUAGE, GROUP)
