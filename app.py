"""Entry point of the dashboard: page config, navigation, shared header and footer. Nothing else.

Run with `streamlit run app.py`. It sits at the repository root on purpose (see docs/developpement.md):
the pages live in `dashboard/pages/` and are reached only through `st.navigation`.
"""

import streamlit as st

from dashboard import guard, layout, navigation, state, warm

st.set_page_config(
    page_title="Observatoire de l'économie collaborative",
    page_icon=layout.PAGE_ICON,  # served by the app (a ":material/..." icon is fetched from a font host)
    layout="wide",
)

page = st.navigation(navigation.pages())
warm.start()  # the shared tables of this data version, read once in the background (dashboard/warm.py)
with guard.french_errors():  # an unexpected error: a French sentence, details in the server log only
    territory = state.current()
    st.session_state["page_courante"] = page
    layout.territory_search()
    layout.french_document()
    with st.sidebar:
        st.caption(
            "Observatoire de l'économie collaborative : adoption collaborative locale (covoiturage, tiers-lieux) "
            "et pénétration des plateformes (locations de courte durée, VTC), de la commune à la France."
        )
    layout.header(territory, page)
    page.run()
    layout.footer()
