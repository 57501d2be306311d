# Local mode: the whole loop (sample data, train both models through the training
# container's `train` program, package model.tar.gz, serve, invoke through the boto3 client, report)
# on this machine with no AWS account and no Docker. Everything it writes goes under local/.
IMAGES ?=
AUDIO ?=

## local [IMAGES=dir] [AUDIO=dir] [PORT=8080]  train, package, serve and invoke both models (sample data by default; your data with IMAGES/AUDIO)
.PHONY: local
local: $(VENV_STAMP)
	$(PY) -m local_mode --port $(PORT) $(if $(IMAGES),--images "$(IMAGES)") $(if $(AUDIO),--audio "$(AUDIO)")
