"""The viewer keeps no table of its own: its tokens are credentials, stored beside API keys
(`auth.models.ViewerToken`) and checked by `auth.viewer_tokens`."""
