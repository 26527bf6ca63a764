// Package themes holds the playground's colour themes and the user config
// file that picks one. A theme is only colours; the ui package turns them
// into styles, and lipgloss degrades them to what the terminal supports
// (256 or 16 colours, or none under NO_COLOR).
package themes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// Theme is a palette. Every colour is a hex string lipgloss understands.
type Theme struct {
	Name string
	// Text is ordinary text; Dim is the fixed prompt and secondary labels.
	Text, Dim lipgloss.Color
	// Mask colours the glyph of a still-masked position.
	Mask lipgloss.Color
	// FreshFG/FreshBG highlight the tokens revealed by the step on screen.
	FreshFG, FreshBG lipgloss.Color
	// CursorFG/CursorBG mark the inspector's position.
	CursorFG, CursorBG lipgloss.Color
	// Accent draws titles, the focused control and the timeline's head.
	Accent lipgloss.Color
	// Border frames panels; Bar is the status bar's background.
	Border, Bar lipgloss.Color
	// Error is for one-line error messages.
	Error lipgloss.Color
	// Heat runs from low to high confidence; earlier reveals are drawn in
	// the colour of their bucket when heat colouring is on.
	Heat []lipgloss.Color
}

// The built-in themes, in the order the playground cycles through them.
var builtin = []Theme{
	{
		Name: "dark", Text: "#E4E4E4", Dim: "#7A7A8C", Mask: "#5F5F87",
		FreshFG: "#1C1C1C", FreshBG: "#FFD75F", CursorFG: "#1C1C1C", CursorBG: "#87D7FF",
		Accent: "#AF87FF", Border: "#4E4E6A", Bar: "#303046", Error: "#FF5F5F",
		Heat: []lipgloss.Color{"#D75F5F", "#FF875F", "#FFAF5F", "#D7D75F", "#87D787"},
	},
	{
		Name: "light", Text: "#1C1C1C", Dim: "#8A8A8A", Mask: "#A8A8C8",
		FreshFG: "#1C1C1C", FreshBG: "#FFD700", CursorFG: "#FFFFFF", CursorBG: "#005FAF",
		Accent: "#5F00AF", Border: "#B2B2B2", Bar: "#E4E4EE", Error: "#D70000",
		Heat: []lipgloss.Color{"#D70000", "#D75F00", "#AF8700", "#5F8700", "#008700"},
	},
	{
		Name: "high-contrast", Text: "#FFFFFF", Dim: "#AFAFAF", Mask: "#FFFFFF",
		FreshFG: "#000000", FreshBG: "#FFFF00", CursorFG: "#000000", CursorBG: "#00FFFF",
		Accent: "#FFFF00", Border: "#FFFFFF", Bar: "#000000", Error: "#FF0000",
		Heat: []lipgloss.Color{"#FF0000", "#FF8700", "#FFFF00", "#00FFFF", "#00FF00"},
	},
	{
		// Okabe–Ito based: distinguishable under protanopia, deuteranopia
		// and tritanopia; the heat scale runs vermillion → blue.
		Name: "colorblind", Text: "#E4E4E4", Dim: "#8A8A8A", Mask: "#6C6C80",
		FreshFG: "#000000", FreshBG: "#F0E442", CursorFG: "#000000", CursorBG: "#56B4E9",
		Accent: "#E69F00", Border: "#5A5A6E", Bar: "#2A2A38", Error: "#D55E00",
		Heat: []lipgloss.Color{"#D55E00", "#E69F00", "#F0E442", "#56B4E9", "#0072B2"},
	},
}

// Default is the theme used when neither a flag nor the config names one.
const Default = "dark"

// Names lists the built-in themes.
func Names() []string {
	out := make([]string, len(builtin))
	for i, t := range builtin {
		out[i] = t.Name
	}
	return out
}

// Get returns a built-in theme by name ("colour-blind" and "colorblind"
// are the same theme).
func Get(name string) (Theme, error) {
	want := strings.ToLower(strings.TrimSpace(name))
	if want == "colour-blind" || want == "color-blind" || want == "colourblind" {
		want = "colorblind"
	}
	for _, t := range builtin {
		if t.Name == want {
			return t, nil
		}
	}
	return Theme{}, fmt.Errorf("unknown theme %q (want %s)", name, strings.Join(Names(), ", "))
}

// Next returns the theme after name in Names order, wrapping around.
func Next(name string) Theme {
	for i, t := range builtin {
		if t.Name == name {
			return builtin[(i+1)%len(builtin)]
		}
	}
	return builtin[0]
}

// Config is the playground's config file,
// os.UserConfigDir()/diffuapriel/config.json, e.g. {"theme": "light"}.
type Config struct {
	Theme string `json:"theme,omitempty"`
}

// ConfigPath is where the config file lives on this system.
func ConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: %v", err)
	}
	return filepath.Join(dir, "diffuapriel", "config.json"), nil
}

// LoadConfig reads a config file; a missing file is an empty config.
// Unknown fields are rejected so a typo is reported, not ignored.
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %v", path, err)
	}
	if c.Theme != "" {
		if _, err := Get(c.Theme); err != nil {
			return c, fmt.Errorf("config %s: %v", path, err)
		}
	}
	return c, nil
}

// Resolve picks the theme: the flag when given, else the config file's
// choice, else Default.
func Resolve(flag, configPath string) (Theme, error) {
	if flag != "" {
		return Get(flag)
	}
	if configPath != "" {
		c, err := LoadConfig(configPath)
		if err != nil {
			return Theme{}, err
		}
		if c.Theme != "" {
			return Get(c.Theme)
		}
	}
	return Get(Default)
}
