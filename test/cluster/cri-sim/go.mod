module kcr.io/cri-sim

go 1.26

require (
	golang.org/x/crypto v0.54.0
	google.golang.org/grpc v1.82.1
	k8s.io/cri-api v0.37.2
)
