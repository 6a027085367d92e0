"""Tickets (工单): the model, its states, keyword classification and the store."""
