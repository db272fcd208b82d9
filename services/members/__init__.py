"""Members service: networks, funds, members, households, beneficiaries, collectors and rounds."""
