package models

// Entry is a model the playground can offer without a path: the checkpoints
// built into the binary.
type Entry struct {
	Name     string // shown in the model picker
	Backbone string
	Source   string // "embedded:NAME" or a description of where it comes from
	Open     func() (*Checkpoint, error)
}

// Catalog lists the built-in models, the default first. Until trained demo
// checkpoints are embedded, it offers freshly initialised tiny models of each
// backbone (labelled "random init"): real models, meaningless text.
func Catalog() []Entry {
	var out []Entry
	for _, bb := range []string{BackboneMamba, BackboneHybrid, BackboneTransformer} {
		out = append(out, Entry{
			Name: bb + "-tiny (random init)", Backbone: bb, Source: "init:tiny:" + bb,
			Open: func() (*Checkpoint, error) {
				cfg, err := Preset("tiny", bb)
				if err != nil {
					return nil, err
				}
				w := RandomInit(cfg, 1)
				return &Checkpoint{Config: cfg, Weights: w, Path: "init:tiny:" + bb}, nil
			},
		})
	}
	return out
}
