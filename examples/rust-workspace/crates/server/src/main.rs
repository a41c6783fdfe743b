fn main() {
    println!("{}", core::greeting());
}
