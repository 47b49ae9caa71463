class PublicIdConverter:
    """Public numeric ids (offer_id, pid) in URLs. Nine digits at most, so an absurd id is a
    404 rather than an integer overflow in the database."""

    regex = "[0-9]{1,9}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)
