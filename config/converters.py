class PublicIdConverter:
    """Public numeric ids (offer_id, pid) in URLs. Nine digits at most, so an absurd id is a
    404 rather than an integer overflow in the database."""

    regex = "[0-9]{1,9}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


class RowIdConverter(PublicIdConverter):
    """Primary keys in URLs (an affiliate's postback). Eighteen digits at most, so that any id
    fits a 64-bit integer and an absurd one is a 404."""

    regex = "[0-9]{1,18}"
