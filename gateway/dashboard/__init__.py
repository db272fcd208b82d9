"""Dashboards composed by the gateway from the services (issue 8): JSON for phones, pages for staff."""

from fastapi import APIRouter

router = APIRouter()
