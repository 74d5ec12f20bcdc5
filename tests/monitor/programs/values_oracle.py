"""Programs for the values oracle (issue 13): in-place mutation, callees, closures, generators,
comprehensions, class bodies, a frame with 200 locals, reprs that are costly or raise.
Functions named alias_* change a local through another name (an alias): there a recorded value
may be late, by at most the tracer's bound."""
# ruff: noqa: F841, UP031, B905  (locals that are only there to be recorded; %-formats as jobs write them)


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return "Point(%r, %r)" % (self.x, self.y)


class Broken:
    def __repr__(self):
        raise ValueError("no repr")


class Costly:
    """A repr that takes a while and is long."""

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return "Costly(" + ",".join(str(i * i) for i in range(self.n)) + ")"


def mutate_in_place(n):
    items = []
    table = {}
    point = Point(0, 0)
    acc = [0]
    for i in range(n):
        items.append(i)
        table["k%d" % i] = i * i
        point.x = i
        point.y += 2
        acc += [i]
        items[0] = -i
        if i == 1:
            del table["k0"]
            gone = True
            del gone
    text = "done %d" % len(items)
    return items, table, point, acc, text


def grow(target, value):
    target.append(value)
    target.extend([value, value])


def callee_mutates(n):
    bag = []
    mapping = {"a": 1}
    for i in range(n):
        grow(bag, i)
        mapping.update(b=i)
        mapping.setdefault("c", []).append(i)
    return bag, mapping


def closures(n):
    count = 0
    seen = []

    def bump(k):
        nonlocal count
        count += k
        seen.append(k)
        return count

    for i in range(n):
        bump(i)
        total = count * 2
    return total


def numbers(limit):
    current = 0
    while current < limit:
        received = yield current
        current += 1 if received is None else received


def use_generator():
    gen = numbers(5)
    got = [next(gen), next(gen)]
    got.append(gen.send(2))
    for value in gen:
        got.append(value)
    return got


def comprehensions(n):
    squares = [i * i for i in range(n)]
    lookup = {i: str(i) for i in squares}
    evens = {i for i in squares if i % 2 == 0}
    flat = [x for pair in zip(squares, squares) for x in pair]
    total = sum(x for x in flat)
    return squares, lookup, evens, flat, total


class Config:
    name = "cfg"
    sizes = [1, 2]
    sizes.append(3)
    doubled = [s * 2 for s in sizes]
    label = "%s-%d" % (name, len(sizes))


def odd_reprs(n):
    broken = Broken()
    costly = Costly(5)
    big = list(range(100000))
    for i in range(n):
        costly.n = 5 + i
        costly = Costly(5 + i)
        big[i] = -i
    return costly


def alias_mutation(n):
    data = [1, 2, 3]
    other = data
    table = {"x": 1}
    view = table
    for i in range(n):
        other.append(i)
        view["y%d" % i] = i
        marker = i
    return data, table, marker


def alias_in_callee(n):
    inner = []
    holder = {"inner": inner}
    for i in range(n):
        holder["inner"].append(i)
        step = i
    return inner, step


def wide():
    """200 locals, a few of them changing in a loop."""
    v0 = 0
    v1 = 1
    v2 = 2
    v3 = 3
    v4 = 4
    v5 = 5
    v6 = 6
    v7 = 7
    v8 = 8
    v9 = 9
    v10 = 10
    v11 = 11
    v12 = 12
    v13 = 13
    v14 = 14
    v15 = 15
    v16 = 16
    v17 = 17
    v18 = 18
    v19 = 19
    v20 = 20
    v21 = 21
    v22 = 22
    v23 = 23
    v24 = 24
    v25 = 25
    v26 = 26
    v27 = 27
    v28 = 28
    v29 = 29
    v30 = 30
    v31 = 31
    v32 = 32
    v33 = 33
    v34 = 34
    v35 = 35
    v36 = 36
    v37 = 37
    v38 = 38
    v39 = 39
    v40 = 40
    v41 = 41
    v42 = 42
    v43 = 43
    v44 = 44
    v45 = 45
    v46 = 46
    v47 = 47
    v48 = 48
    v49 = 49
    v50 = 50
    v51 = 51
    v52 = 52
    v53 = 53
    v54 = 54
    v55 = 55
    v56 = 56
    v57 = 57
    v58 = 58
    v59 = 59
    v60 = 60
    v61 = 61
    v62 = 62
    v63 = 63
    v64 = 64
    v65 = 65
    v66 = 66
    v67 = 67
    v68 = 68
    v69 = 69
    v70 = 70
    v71 = 71
    v72 = 72
    v73 = 73
    v74 = 74
    v75 = 75
    v76 = 76
    v77 = 77
    v78 = 78
    v79 = 79
    v80 = 80
    v81 = 81
    v82 = 82
    v83 = 83
    v84 = 84
    v85 = 85
    v86 = 86
    v87 = 87
    v88 = 88
    v89 = 89
    v90 = 90
    v91 = 91
    v92 = 92
    v93 = 93
    v94 = 94
    v95 = 95
    v96 = 96
    v97 = 97
    v98 = 98
    v99 = 99
    v100 = 100
    v101 = 101
    v102 = 102
    v103 = 103
    v104 = 104
    v105 = 105
    v106 = 106
    v107 = 107
    v108 = 108
    v109 = 109
    v110 = 110
    v111 = 111
    v112 = 112
    v113 = 113
    v114 = 114
    v115 = 115
    v116 = 116
    v117 = 117
    v118 = 118
    v119 = 119
    v120 = 120
    v121 = 121
    v122 = 122
    v123 = 123
    v124 = 124
    v125 = 125
    v126 = 126
    v127 = 127
    v128 = 128
    v129 = 129
    v130 = 130
    v131 = 131
    v132 = 132
    v133 = 133
    v134 = 134
    v135 = 135
    v136 = 136
    v137 = 137
    v138 = 138
    v139 = 139
    v140 = 140
    v141 = 141
    v142 = 142
    v143 = 143
    v144 = 144
    v145 = 145
    v146 = 146
    v147 = 147
    v148 = 148
    v149 = 149
    v150 = 150
    v151 = 151
    v152 = 152
    v153 = 153
    v154 = 154
    v155 = 155
    v156 = 156
    v157 = 157
    v158 = 158
    v159 = 159
    v160 = 160
    v161 = 161
    v162 = 162
    v163 = 163
    v164 = 164
    v165 = 165
    v166 = 166
    v167 = 167
    v168 = 168
    v169 = 169
    v170 = 170
    v171 = 171
    v172 = 172
    v173 = 173
    v174 = 174
    v175 = 175
    v176 = 176
    v177 = 177
    v178 = 178
    v179 = 179
    v180 = 180
    v181 = 181
    v182 = 182
    v183 = 183
    v184 = 184
    v185 = 185
    v186 = 186
    v187 = 187
    v188 = 188
    v189 = 189
    v190 = 190
    v191 = 191
    v192 = 192
    v193 = 193
    v194 = 194
    v195 = 195
    v196 = 196
    v197 = 197
    v198 = 198
    v199 = 199
    for step in range(3):
        v7 = v7 + step
        v150 = [v150, step]
        v199 += 1
    return v0 + v199


def main():
    mutate_in_place(6)
    callee_mutates(4)
    closures(5)
    use_generator()
    comprehensions(6)
    odd_reprs(4)
    alias_mutation(150)
    alias_in_callee(150)
    wide()
    result = Config.label
    return result


scale = 3
scaled = [k * scale for k in range(4)]
main()
