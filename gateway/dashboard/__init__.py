"""Dashboards composed by the gateway from the services (issue 8): JSON for phones, pages for staff.

- ``/v1/dashboard/...`` (:mod:`gateway.dashboard.api`): a fund's figures in one call, roll-ups over
  a network, a province or the country, the funds table, CSV/XLSX downloads and PDFs.
- ``/dashboard/...`` (:mod:`gateway.dashboard.web`): the same as server-rendered pages with inline
  SVG charts, behind a login form, for committees and network staff on their phones.
"""

from fastapi import APIRouter

from gateway.dashboard.api import router as api_router
from gateway.dashboard.web import router as web_router

router = APIRouter()
router.include_router(api_router)
router.include_router(web_router)
