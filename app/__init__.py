"""The Streamlit what-if dashboard of the fleet planner (``streamlit run app/dashboard.py``).

A thin layer over the library: it imports only ``planner`` (as ``pl``) and uses the names that
``planner/__init__.py`` exports; all planning, costing and checking happens there.
"""
