"""Files for running the product in production (deploy/nginx-site.conf and its renderer)."""
