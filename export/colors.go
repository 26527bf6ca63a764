package export

import (
	"fmt"
	"image/color"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"diffuapriel/themes"
)

// colors are a theme's colours as RGB, plus the page background, which a
// terminal theme leaves to the terminal: it is the theme's bar colour pushed
// towards black (light text) or white (dark text).
type colors struct {
	background, bar, text, dim, mask      color.RGBA
	freshFG, freshBG, accent, border, bad color.RGBA
	heat                                  []color.RGBA
}

func themeColors(t themes.Theme) (colors, error) {
	var c colors
	var err error
	parse := func(field string, v lipgloss.Color) color.RGBA {
		rgb, e := parseHex(string(v))
		if e != nil && err == nil {
			err = fmt.Errorf("theme %q: colour %s: %v", t.Name, field, e)
		}
		return rgb
	}
	c.bar = parse("Bar", t.Bar)
	c.text = parse("Text", t.Text)
	c.dim = parse("Dim", t.Dim)
	c.mask = parse("Mask", t.Mask)
	c.freshFG = parse("FreshFG", t.FreshFG)
	c.freshBG = parse("FreshBG", t.FreshBG)
	c.accent = parse("Accent", t.Accent)
	c.border = parse("Border", t.Border)
	c.bad = parse("Error", t.Error)
	for i, h := range t.Heat {
		c.heat = append(c.heat, parse(fmt.Sprintf("Heat[%d]", i), h))
	}
	if err != nil {
		return c, err
	}
	if len(c.heat) == 0 {
		return c, fmt.Errorf("theme %q has no heat colours", t.Name)
	}
	if luminance(c.text) > 0.5 {
		c.background = mix(c.bar, color.RGBA{0, 0, 0, 255}, 0.4)
	} else {
		c.background = mix(c.bar, color.RGBA{255, 255, 255, 255}, 0.7)
	}
	return c, nil
}

// parseHex reads "#RRGGBB" or "#RGB".
func parseHex(s string) (color.RGBA, error) {
	h, ok := strings.CutPrefix(s, "#")
	if ok && len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if !ok || len(h) != 6 {
		return color.RGBA{}, fmt.Errorf("%q is not #RRGGBB", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return color.RGBA{}, fmt.Errorf("%q is not #RRGGBB", s)
	}
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, nil
}

// mix returns a + (b - a) * f.
func mix(a, b color.RGBA, f float64) color.RGBA {
	lerp := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*f + 0.5) }
	return color.RGBA{lerp(a.R, b.R), lerp(a.G, b.G), lerp(a.B, b.B), 255}
}

func luminance(c color.RGBA) float64 {
	return (0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)) / 255
}

func hexOf(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
