/// A growable stack of integers.
pub struct Stack {
    items: Vec<i64>,
}

impl Stack {
    pub fn new() -> Self {
        Stack { items: Vec::new() }
    }

    pub fn push(&mut self, value: i64) {
        __FILL_1__
    }

    pub fn pop(&mut self) -> Option<i64> {
        self.items.pop()
    }

    pub fn len(&self) -> usize {
        __FILL_1__
    }
}
