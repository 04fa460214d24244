"""Plans and customers: which servers a customer's mail may go through, and region rules."""
