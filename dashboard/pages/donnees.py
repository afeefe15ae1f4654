"""Page "Données et téléchargements": an extract of any indicators for many territories, in a file.

UI only: the file is made by `etl.export` (the same code as `python -m etl export`), the choices
come from `dashboard.extracts`.
"""

import polars as pl
import streamlit as st

from dashboard import data, extracts, fmt, guard, layout, state, tables
from etl import export

FORMAT_LABELS = {"csv-fr": "CSV pour Excel (français)", "csv": "CSV standard", "xlsx": "Excel (XLSX)",
                 "parquet": "Parquet", "geojson": "GeoJSON (carte)"}
LAYOUT_LABELS = {"long": "Longue : une ligne par territoire, indicateur et période",
                 "wide": "Large : une colonne par indicateur et période"}


def territories_choice(t, territoires: pl.DataFrame) -> dict | None:
    """Level and territories: {"niveau", "parent", "codes"}, or None while nothing is chosen."""
    c1, c2 = st.columns([1, 2])
    levels = extracts.LEVELS
    niveau = c1.selectbox("Niveau", levels, index=levels.index(extracts.default_level(t)),
                          format_func=lambda lv: export.LEVEL_LABEL_PLURAL[lv].capitalize(), key="ext_niveau",
                          filter_mode=None)  # a short list: no typing, so no English "No results"
    if niveau == "france":
        c2.caption("Une ligne : la France entière (somme des communes).")
        return {"niveau": niveau, "parent": None, "codes": ()}
    plural = export.LEVEL_LABEL_PLURAL[niveau]
    parents = extracts.parent_levels(niveau)
    modes = {"parent": f"Les {plural} d'un territoire", "france": "Toute la France", "liste": "Une liste"}
    with_default = [lv for lv in parents if extracts.default_parent(t, lv)]
    if not parents:
        modes.pop("parent")
    start_mode = "parent" if with_default else "france"  # France selected: all of France
    mode = c2.radio("Périmètre", list(modes), index=list(modes).index(start_mode), format_func=modes.get,
                    horizontal=True, key=f"ext_perimetre_{niveau}")
    if mode == "france":
        return {"niveau": niveau, "parent": None, "codes": ()}
    if mode == "parent":
        start = t.niveau if t.niveau in parents else (with_default[-1] if with_default else parents[0])
        p1, p2 = st.columns([1, 2])
        plevel = p1.selectbox("Dans", parents, index=parents.index(start),
                              format_func=lambda lv: export.LEVEL_LABEL[lv].capitalize(),
                              key=f"ext_parent_niveau_{niveau}", filter_mode=None)
        options = extracts.parent_options(territoires, plevel)
        keys = list(options)
        chosen = extracts.default_parent(t, plevel)
        # typing filters the long lists (1 255 intercommunalités); Streamlit then says "No results" in
        # English when nothing matches (docs/developpement.md)
        pcode = p2.selectbox("Territoire englobant", keys, index=keys.index(chosen) if chosen in options else 0,
                             format_func=options.get, key=f"ext_parent_{niveau}_{plevel}",
                             filter_mode="contains" if len(keys) > 60 else None)
        if niveau in ("commune", "arrondissement") and plevel in ("departement", "region"):
            p1.caption("Une intercommunalité appartient au département (et à la région) qui porte le plus de sa "
                       "population.")
        return {"niveau": niveau, "parent": f"{plevel}:{pcode}", "codes": ()}
    if niveau == "commune":
        # a one-line box read as you type: a text area would say "Press Ctrl+Enter to apply" in English
        text = st.text_input("Codes Insee des communes", value=t.code if t.niveau == "commune" else "",
                             key="ext_codes_communes", placeholder="33063, 33281, 69123…", live="500ms")
        st.caption("Séparés par des virgules ou des espaces (une colonne copiée d'un tableur convient). La recherche "
                   "du menu donne le code d'une commune.")
        codes = export.split_list(text)
    else:
        options = extracts.level_options(territoires, niveau)
        codes = tuple(st.multiselect(plural.capitalize(), list(options), default=[t.code] if t.niveau == niveau else [],
                                     format_func=options.get, key=f"ext_codes_{niveau}", select_all=False,
                                     placeholder="Taper un nom ou un code"))
    if not codes:
        st.info("Choisir au moins un territoire.")
        return None
    return {"niveau": niveau, "parent": None, "codes": codes}


def indicators_choice(catalogue: pl.DataFrame, avail: pl.DataFrame, niveau: str) -> tuple[str, ...] | None:
    """Indicator ids (empty: the whole catalogue), or None while nothing is chosen."""
    at_level = set(avail.filter(pl.col("niveau") == niveau)["indicateur"].to_list())
    whole = st.toggle("Tout le catalogue", value=True, key="ext_tout")
    st.caption(f"{catalogue.height} indicateurs, dont {len(at_level)} avec des données à ce niveau.")
    if whole:
        return ()
    domains = extracts.domains(catalogue)
    picked_domains = st.pills("Domaines entiers", domains, selection_mode="multi", format_func=extracts.domain_label,
                              key="ext_domaines") or []
    labels = extracts.indicator_labels(catalogue, at_level)
    picked = st.multiselect("Indicateurs", list(labels), format_func=labels.get, key="ext_indicateurs",
                            placeholder="Taper pour chercher : libellé, domaine, famille…", select_all=False)
    st.caption("Classés par domaine puis par famille (collaboratif, plateforme, contexte).")
    in_domains = catalogue.filter(pl.col("domaine").is_in(picked_domains))["indicateur"].to_list()
    ids = tuple(dict.fromkeys(i for i in labels if i in set(in_domains) | set(picked)))
    if not ids:
        st.info("Choisir au moins un indicateur ou un domaine entier (ou tout le catalogue).")
        return None
    st.caption(f"{len(ids)} indicateur{'s' if len(ids) > 1 else ''} : " + ", ".join(ids))
    return ids


t = state.current()
territoires = data.territoires()
catalogue = data.catalogue()
avail = extracts.cached_availability()

st.title("Données et téléchargements")
st.caption("Les chiffres de l'observatoire pour plusieurs territoires à la fois, dans un fichier qui s'ouvre "
           "correctement du premier coup, avec le dictionnaire des colonnes et les sources à citer.")

st.subheader("Territoires")
where = territories_choice(t, territoires)
if where is not None:
    st.subheader("Indicateurs et périodes")
    ids = indicators_choice(catalogue, avail, where["niveau"])
    if ids is not None:
        popts = extracts.period_options(avail, where["niveau"], list(ids) or catalogue["indicateur"].to_list())
        pkey = f"ext_periodes_{where['niveau']}"
        if pkey in st.session_state:  # periods of other indicators are dropped, not an error
            st.session_state[pkey] = [p for p in st.session_state[pkey] if p in popts]
        periodes = st.multiselect("Périodes", list(popts), format_func=popts.get, key=pkey,
                                  placeholder="Toutes les périodes", select_all=False)
        st.caption("Une année comprend ses mois. Vide : toutes les périodes.")

        st.subheader("Fichier")
        f1, f2 = st.columns(2)
        fmt_id = f1.radio("Format", list(FORMAT_LABELS), format_func=FORMAT_LABELS.get, key="ext_format")
        f1.caption(export.FORMATS[fmt_id][2])
        if fmt_id == "geojson":
            f2.radio("Disposition", ["wide"], format_func=LAYOUT_LABELS.get, disabled=True, key="ext_layout_geo")
            f2.caption("Le GeoJSON a une entité (un contour) par territoire.")
            shape = "wide"
        else:
            shape = f2.radio("Disposition", list(LAYOUT_LABELS), format_func=LAYOUT_LABELS.get, key="ext_layout")

        request = export.Request(niveau=where["niveau"], codes=tuple(where["codes"]), parent=where["parent"],
                                 indicateurs=ids, periodes=tuple(periodes), layout=shape, format=fmt_id)
        try:
            with st.spinner("Préparation de l'extrait…"):
                built = guard.call(extracts.build, request, str(data.folder()), data.version(),
                                   what="la préparation de l'extrait", timeout=3 * guard.DEFAULT_TIMEOUT)
        except (export.ExportError, guard.Stalled) as exc:
            st.error(f"Extrait impossible : {layout.md(str(exc))}", icon="⚠️")
        else:
            st.markdown(f"**{layout.md(built.describe)}**")
            for warning in built.warnings:
                st.warning(layout.md(warning), icon="ℹ️")
            preview = built.preview
            tables.show(preview, {c: tables.ANY for c, dtype in preview.schema.items() if dtype.is_float()},
                        alt="Aperçu de l'extrait", key="ext_apercu",
                        column_config={"nom": st.column_config.TextColumn(width=180)})
            st.caption(f"Aperçu des {min(20, built.preview.height)} premières lignes. " + (
                "Chaque ligne porte sa nature (reel : mesurée, estime : estimation, simule : données simulées) et "
                "sa source." if shape == "long" else
                "La source et la nature de chaque colonne sont dans le dictionnaire du fichier."))
            notice = extracts.nature_notice(built.natures, shape)
            if notice:
                st.info(notice, icon="🧪")
            if built.content is None:
                if built.cells <= extracts.PAGE_MAX_CELLS:  # too big for a workbook made while you wait
                    st.info(f"Classeur Excel trop long à préparer ici ({fmt.number(built.cells)} cellules, plus de "
                            f"{fmt.number(extracts.PAGE_MAX_CELLS_XLSX)}) : choisir le format CSV ou Parquet (même "
                            "contenu, prêt en quelques secondes), ou le produire en ligne de commande, depuis le "
                            "dépôt :", icon="💻")
                else:
                    st.info(f"Extrait trop volumineux pour le navigateur ({fmt.number(built.cells)} cellules) : "
                            "le produire en ligne de commande, depuis le dépôt :", icon="💻")
                st.code(built.command, language="bash")
            else:
                with st.container(horizontal=True):
                    st.download_button(f"Télécharger ({extracts.human_size(len(built.content))})", data=built.content,
                                       file_name=built.filename, mime=built.mime, type="primary",
                                       icon=":material/download:", on_click="ignore", key="ext_telecharger")
                    if built.companion is not None:
                        st.download_button("Sources et dictionnaire (.txt)",
                                           data=("\ufeff" + built.companion).encode("utf-8"),
                                           file_name=built.companion_name, mime="text/plain", on_click="ignore",
                                           icon=":material/description:", key="ext_sources_txt")
                st.caption(f"Fichier : `{built.filename}` · {extracts.human_size(len(built.content))}")
            if fmt_id == "csv-fr":
                st.caption("Excel retire les zéros initiaux des codes à l'ouverture d'un CSV (01001 devient 1001) : "
                           "pour les garder, préférer le format Excel (XLSX) ou importer le CSV en déclarant la "
                           "colonne « code » en texte.")
            st.markdown("**Attribution à reproduire** : " + layout.md(built.attribution))
            with st.expander("Sources de cet extrait"):
                tables.show(built.sources.rename(export.SOURCES_HEADERS), alt="Sources de l'extrait", key="ext_sources")
            with st.expander("Le même extrait en ligne de commande"):
                st.code(built.command, language="bash")
