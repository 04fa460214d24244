"""Workers: claim a batch -> pick a server -> reserve -> send -> record."""
