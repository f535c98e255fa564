"""Model packs: manifests (data), their files (store), and the networks that run them."""
