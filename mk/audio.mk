# Synthetic speakers for the audio model: Debian's text-to-speech engines and the synthesizer.
TTS_TEST_PACKAGES := espeak-ng
TTS_PACKAGES := espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
SYNTHETIC_WORDS ?= zero,one,two,three,four,five,six,seven,eight,nine
SYNTHETIC_LABELS ?= 0,1,2,3,4,5,6,7,8,9
SYNTHETIC_OUT ?= local/synthetic
SYNTHETIC_ARGS ?=

# The synthesizer's tests need espeak-ng: installed where apt-get runs as root (CI containers), else
# those tests skip and say why.
TEST_PREREQS += tts-test-engine

.PHONY: tts-test-engine tts-engines synthetic-audio
tts-test-engine:
	@command -v espeak-ng >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TTS_TEST_PACKAGES) >/dev/null) \
	      || echo "could not install espeak-ng: the synthesizer's end-to-end tests will skip"; \
	  else echo "espeak-ng not installed (apt-get install -y espeak-ng as root): the synthesizer's end-to-end tests will skip"; fi; }

## tts-engines  install the text-to-speech engines the synthesizer uses (Debian/Ubuntu, as root)
tts-engines:
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null && command -v festival >/dev/null \
	  && [ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] \
	  || DEBIAN_FRONTEND=noninteractive apt-get install -y $(TTS_PACKAGES)

## synthetic-audio [SYNTHETIC_WORDS=zero,...] [SYNTHETIC_LABELS=0,...] [SYNTHETIC_OUT=local/synthetic]  synthetic speakers for the MLP's `synthetic` channel
synthetic-audio: $(VENV_STAMP) tts-engines
	$(PY) -m training.synthesize --words "$(SYNTHETIC_WORDS)" --labels "$(SYNTHETIC_LABELS)" --out "$(SYNTHETIC_OUT)" $(SYNTHETIC_ARGS)
