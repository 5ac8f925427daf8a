#!/usr/bin/env bash
# The translations, with Babel (pip install -e '.[test]'):
#   scripts/i18n.sh extract   the template tray_app/locale/qwen-tray.pot from the sources
#   scripts/i18n.sh update    merge the template into each language's .po (new strings to translate)
#   scripts/i18n.sh compile   the .mo files the package ships (a test checks they match the .po files)
#   scripts/i18n.sh           all three
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
LOCALES=tray_app/locale
TEMPLATE=$LOCALES/qwen-tray.pot
LANGUAGES=(vi zh_CN)

extract() {
    # _() and ngettext() for words only people read; tr() for messages also logged; N_() marks a message
    # translated where it is shown (tray_app/i18n.py). "# TRANSLATORS:" comments reach the translators.
    "$PYBABEL" extract --no-location --sort-output --omit-header -k tr -k _ -k N_ -k ngettext:1,2 -c TRANSLATORS: \
        --project qwen-tray -o "$TEMPLATE" tray_app
}

update() {
    for language in "${LANGUAGES[@]}"; do
        if [[ -f $LOCALES/$language/LC_MESSAGES/qwen-tray.po ]]; then
            "$PYBABEL" update --no-fuzzy-matching --ignore-obsolete -D qwen-tray -i "$TEMPLATE" -d "$LOCALES" -l "$language"
        else
            "$PYBABEL" init -D qwen-tray -i "$TEMPLATE" -d "$LOCALES" -l "$language"
        fi
    done
}

compile() {
    "$PYBABEL" compile --statistics -D qwen-tray -d "$LOCALES"
}

case "${1:-all}" in
    extract) extract ;;
    update) update ;;
    compile) compile ;;
    all) extract; update; compile ;;
    *) echo "usage: $0 [extract|update|compile|all]" >&2; exit 2 ;;
esac
