"""Lists and their subscribers: create, import a CSV, add and read subscribers."""
