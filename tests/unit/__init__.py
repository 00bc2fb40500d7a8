"""Unit tests: pure rules, in-process, no servers, no git, no Redis (`make check`)."""
