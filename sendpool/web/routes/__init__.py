"""One module per admin page family: parse the request, call one service, render."""
