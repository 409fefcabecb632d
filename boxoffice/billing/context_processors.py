from boxoffice.billing.models import BusinessDetails


def _tax_note() -> str:
    return "" if BusinessDetails.current().prices_include_tax else " + tax"


def prices(request):
    # " + tax" after a price where plan prices exclude tax (added at payment for the customer's
    # country). A callable: the template calls it, so only pages that show a price ask.
    return {"TAX_NOTE": _tax_note}
