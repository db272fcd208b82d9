"""LINE: Login and LIFF sign-in, account linking, the Messaging API webhook, and push notifications."""
