"""Page "Dictionnaire et sources": every indicator of the catalogue and every source of the manifest.

Reached from the source note under every figure (`?indicateur=<id>,...` filters the table).
"""

import polars as pl
import streamlit as st

from dashboard import data, extracts, fmt, layout, tables

st.title("Dictionnaire et sources")
st.caption("Ce que mesure chaque indicateur, d'où viennent les données, sous quelle licence, de quand, et ce qui "
           "a été écarté à la lecture. Les mêmes informations accompagnent chaque extrait téléchargé.")

catalogue = data.catalogue()
avail = extracts.cached_availability()

st.subheader("Indicateurs")
query = st.text_input("Rechercher un indicateur", key="indicateur", bind="query-params",
                      placeholder="mot du libellé ou de la définition, identifiant, domaine, source…",
                      live="300ms")  # found as you type: no English "Press Enter to apply"
st.caption("Plusieurs identifiants séparés par des virgules affichent exactement ces indicateurs.")
picked = st.pills("Domaines", extracts.domains(catalogue), selection_mode="multi", format_func=extracts.domain_label,
                  key="dico_domaines") or []
st.caption("Aucun domaine choisi : tous les domaines.")
found = extracts.search_catalogue(catalogue, query)
if picked:
    found = found.filter(pl.col("domaine").is_in(picked))
view = extracts.catalogue_view(found, avail)
if view.height and query and view.height <= 5:  # a few indicators (a link from a figure): in full
    for r in view.iter_rows(named=True):
        with st.container(border=True):
            st.markdown(f"**{layout.md(r['Libellé'])}** · `{r['Identifiant']}`")
            st.markdown(layout.md(r["Définition"]))
            st.caption(" · ".join(layout.md(x) for x in (
                f"Unité : {r['Unité']}", f"Famille : {r['Famille']}", f"Domaine : {r['Domaine']}", f"Sens : {r['Sens']}",
                f"Source : {r['Source']} ({r['Licence']})", f"Niveaux : {r['Niveaux']}",
                f"Périodes : {r['Périodes'] or 'aucune'}", f"Nature : {r['Nature'] or 'pas de donnée'}")))
if view.height:
    st.caption(f"{view.height} indicateur{'s' if view.height > 1 else ''} sur {catalogue.height}, classés par "
               "domaine puis par famille.")
    tables.show(view, alt="Catalogue des indicateurs", key="dico_catalogue", height=36 + 35 * min(view.height, 20),
                column_config={
                    "Domaine": st.column_config.TextColumn(width=190),
                    "Famille": st.column_config.TextColumn(width=100),
                    "Libellé": st.column_config.TextColumn(width=300),
                    "Définition": st.column_config.TextColumn(width="large"),
                })
else:
    st.info("Aucun indicateur ne correspond à cette recherche.")
st.caption("« Sens » : ce que signifie une valeur plus élevée. Les taux sont recalculés à chaque niveau à partir "
           "des sommes des communes, jamais moyennés. Un territoire sans donnée n'a pas de valeur (jamais un 0).")

st.subheader("Sources")
manifest = data.manifest()
sources = extracts.sources_view(manifest)
if sources.height:
    tables.show(sources, alt="Sources des données", key="dico_sources", column_config={
        "Adresse en ligne": st.column_config.LinkColumn(),
        "Provenance": st.column_config.TextColumn(width="medium"),
        "Page": st.column_config.LinkColumn(),
    })
    st.caption("Provenance : l'adresse lue, le fichier du producteur ou une copie publique, et pourquoi. Autres "
               "fichiers : ceux de la même source en plus de l'adresse affichée (liste complète ci-dessous).")
    with st.expander("Adresses de tous les fichiers"):
        tables.show(pl.DataFrame(extracts.all_urls(manifest), schema=["Source", "Adresse"], orient="row"),
                    alt="Adresses de tous les fichiers des sources", key="dico_adresses",
                    column_config={"Adresse": st.column_config.LinkColumn()})
else:
    st.info("Le manifeste des données est vide : les données n'ont pas été construites dans ce dossier (voir la "
            "section « Rafraîchir les données » du fichier README du projet).")

st.subheader("Lignes rejetées, et pourquoi")
rejected = extracts.rejections_view(manifest)
if rejected.height:
    total = int(rejected["Lignes"].sum())
    st.caption(f"{fmt.number(total)} ligne{'s' if total > 1 else ''} écartée{'s' if total > 1 else ''} au total : "
               "chaque ligne écartée est comptée avec sa raison, aucune n'est perdue en silence.")
    tables.show(rejected, alt="Lignes rejetées à la lecture des sources, et pourquoi", key="dico_rejets")
else:
    st.success("Aucune ligne rejetée à la lecture des sources ni à la construction des tables de données.")
