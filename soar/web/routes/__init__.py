"""The API's routes, one module per subject; soar.web.app assembles them."""
