"""Loading the operator's customers, plans, bills and usage (``kefu customer import``)."""
