#!/usr/bin/env bash
# Debian packages some capabilities need at run time or in tests (speech synthesis for test audio,
# ffmpeg for video, a headless browser for UI tests). Installed only when missing; never fatal:
# a machine without root gets a warning and the commands that need a package say so themselves.
set -u
PACKAGES=()   # each capability appends what it needs, e.g. PACKAGES+=(espeak-ng ffmpeg)
PACKAGES+=(libgomp1)  # OpenMP runtime of the llama.cpp engine (xllamacpp's CPU wheel links it)
PACKAGES+=(espeak-ng)   # speak: the offline, non-neural text-to-speech engine
PACKAGES+=(ffmpeg)   # transcribe: mp3/mp4 test media and benchmarks (espeak-ng makes the speech)
PACKAGES+=(chromium)   # serve: headless browser tests of the web UI (driven by Playwright)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null 2>&1 \
    || echo "warning: could not install ${missing[*]} (apt-get failed)" >&2
else
  echo "warning: missing system packages ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
fi
exit 0
