# Thin wrappers over the scripts the README names.
.PHONY: run test build release goldens clean

run:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

build:
	swift build

release:
	swift build -c release --product slm

goldens:
	bash scripts/make-goldens.sh

clean:
	rm -rf .build
