// Package demo holds the trained demo checkpoints (one folder per backbone,
// each sharded into files of at most 16 MiB, with its model card) and builds
// them into the binary, so the playground works out of the box. It is its own
// package so that only the commands that offer these models carry their
// 56 MB; the engine's and the loader's test binaries stay small.
package demo

import (
	"embed"

	"diffuapriel/models"
)

//go:embed */*.safetensors */model.safetensors.index.json */config.json
var files embed.FS

// order lists the demo backbones, the default first: the hybrid ties the
// transformer on the validation perplexity bound (150.9 vs 150.7, one run
// each) and is the DiffuApriel design itself (models/demo/README.md).
var order = []string{models.BackboneHybrid, models.BackboneMamba, models.BackboneTransformer}

// Entry is a model the playground can offer without a path: a checkpoint
// built into the binary.
type Entry struct {
	Name     string // shown in the model picker
	Backbone string
	Source   string // "embedded:demo/<backbone>"
	Open     func() (*models.Checkpoint, error)
}

// Catalog lists the built-in demo models, the default first.
func Catalog() []Entry {
	out := make([]Entry, 0, len(order))
	for _, bb := range order {
		source := "embedded:demo/" + bb
		out = append(out, Entry{
			Name: "demo " + bb, Backbone: bb, Source: source,
			Open: func() (*models.Checkpoint, error) { return models.LoadFS(files, bb, source) },
		})
	}
	return out
}
